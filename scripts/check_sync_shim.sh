#!/usr/bin/env bash
# Every atomic, Mutex, RwLock and Condvar in the core goes through src/sync.rs
# (the loom shim), so that loom can model it. Refuse direct std/core uses
# elsewhere, however they are imported: a path (`std::sync::Mutex`), a group
# (`use std::sync::{Mutex, OnceLock}`), a rename (`{Mutex as StdMutex}`), or
# a group spread over several lines. A line may opt out with
# `// shim-exempt: why`. (The binding layer src/python/ is not modelled and
# is exempt.)
set -euo pipefail
cd "$(dirname "$0")/.."
hits=$(find src -name '*.rs' -not -path 'src/python/*' -not -path 'src/sync.rs' -print0 \
  | xargs -0 perl -0777 -ne '
      my $file = $ARGV;
      my $text = $_;
      # Each `use` statement (possibly multi-line) and each inline path.
      while ($text =~ /(\buse\s+(?:std|core|::std|::core)::sync\b[^;]*;|\b(?:std|core)::sync::(?:atomic\b|Mutex\b|RwLock\b|Condvar\b|Barrier\b)[\w:]*)/g) {
          my ($m, $start) = ($1, $-[1]);
          my $line = 1 + (substr($text, 0, $start) =~ tr/\n//);
          # The rest of the statement'"'"'s last line, for the exemption mark.
          my $end = index($text, "\n", $+[1]);
          $end = length($text) if $end < 0;
          my $tail = substr($text, $+[1], $end - $+[1]);
          next if $tail =~ m{//\s*shim-exempt:} || $m =~ m{//\s*shim-exempt:};
          next unless $m =~ /\b(?:atomic|Atomic\w*|fence|Mutex|MutexGuard|RwLock\w*|Condvar|Barrier)\b/;
          (my $flat = $m) =~ s/\s+/ /g;
          print "$file:$line: $flat\n";
      }
      close ARGV;
  ' || true)
if [ -n "$hits" ]; then
  echo "std atomics/locks used outside src/sync.rs (use crate::sync, or mark '// shim-exempt: why'):"
  echo "$hits"
  exit 1
fi
echo "sync shim: ok"
