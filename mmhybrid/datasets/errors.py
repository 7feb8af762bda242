# Copyright (c) mmhybrid contributors. All rights reserved.
"""The error type and problem record shared by the dataset checks and ``ReportDataErrors``."""
from typing import NamedTuple, Sequence

#: How many problems an error message lists before summarising the rest as "... and N more".
MAX_LISTED_PROBLEMS = 10


class DataProblem(NamedTuple):
    """One thing wrong with the data: ``path`` names the file, folder or config key to fix."""
    split: str
    path: str
    problem: str

    def format(self) -> str:
        where = f'[{self.split}] ' if self.split else ''
        return f'{where}{self.path}: {self.problem}'


def format_problems(problems: Sequence[DataProblem],
                    max_listed: int = MAX_LISTED_PROBLEMS) -> str:
    """One line per problem (at most ``max_listed``), then how many were left out."""
    lines = ['  ' + problem.format() for problem in problems[:max_listed]]
    if len(problems) > max_listed:
        lines.append(f'  ... and {len(problems) - max_listed} more')
    return '\n'.join(lines)


class DatasetError(RuntimeError):
    """A data file or folder is missing, empty, undecodable or holds invalid labels.

    The message always names the file or folder (or the config key to fix) and what is wrong.
    ``problems`` holds the :class:`DataProblem` records when the error summarises a check.

    The message is the first and only required argument, so the error survives being re-raised
    by PyTorch's DataLoader workers (``ExceptionWrapper`` calls ``type(exc)(message)``).
    """

    def __init__(self, message: str, problems: Sequence[DataProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)

    def __reduce__(self):
        return type(self), (self.args[0] if self.args else '', self.problems)

    @classmethod
    def from_problems(cls, problems: Sequence[DataProblem], what: str = 'data') -> 'DatasetError':
        """``N problems with the <what>:`` followed by up to 10 of them with their paths."""
        count = len(problems)
        header = f'{count} problem{"s" if count != 1 else ""} with the {what}:'
        return cls(header + '\n' + format_problems(problems), problems)
