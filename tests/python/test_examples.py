import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_quickstart_runs(capsys):
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    assert "version" in capsys.readouterr().out


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_python_blocks():
    text = README.read_text()
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.strip() == "```python":
            inside, current = True, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append("\n".join(current))
        elif inside:
            current.append(line)
    return blocks


def test_readme_python_example_runs(capsys):
    blocks = readme_python_blocks()
    assert blocks, "the README has a Python example"
    exec(compile(blocks[0], str(README), "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "telemetry got version" in out
    assert "NAME" in out  # the manager's table
