import argparse

from rotator.cli import build_parser, load_handler


def subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield sub
                yield from subparsers(sub)


def test_every_command_names_a_handler_that_exists():
    handlers = [sub.get_default("handler") for sub in subparsers(build_parser())]
    handlers = [h for h in handlers if h is not None]
    assert len(handlers) == len(set(handlers)) >= 16
    for reference in handlers:
        assert callable(load_handler(reference)), reference
