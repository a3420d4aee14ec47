"""placeholder"""
from typing import Any
import argparse
def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    pass
