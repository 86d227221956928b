"""Assertions shared by the CLI tests of matting.train, matting.evaluate and matting.infer."""


def one_line_error(result) -> str:
    """The CLI failed with a ClickException (no traceback) and a single 'Error: ...' line; returns it."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]
