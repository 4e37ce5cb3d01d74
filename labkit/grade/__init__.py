"""Batch grading of student notebooks: sandboxed, with hidden checks, in parallel (``labkit grade``).

The modules, in the order data flows through them:

* :mod:`~labkit.grade.rubric` — ``grading/<lab>.yaml``: items, points, thresholds, limits;
* :mod:`~labkit.grade.release` — the student version of a lab (``labkit release``);
* :mod:`~labkit.grade.runner` — finds submissions, resumes, spreads them over a
  process pool or Dask (:func:`~labkit.grade.runner.grade`);
* :mod:`~labkit.grade.execute` — grades one submission in its sandbox;
* :mod:`~labkit.grade.sandbox` — bubblewrap, cgroups, rlimits;
* :mod:`~labkit.grade.inside` — the program inside the sandbox (the notebook's kernel);
* :mod:`~labkit.grade.verdict` — the fresh interpreter there that runs the hidden checks;
* :mod:`~labkit.grade.flags` — suspicious exercise code (an AST check);
* :mod:`~labkit.grade.hidden` — ``@check``, for the instructor's hidden-check cells;
* :mod:`~labkit.grade.kinds` — each kind of rubric item: its validation and its scoring;
* :mod:`~labkit.grade.scoring` — scores the rubric items;
* :mod:`~labkit.grade.result` — :class:`~labkit.grade.result.GradeResult`, one submission's grade
  (its failed cell is the report's :class:`~labkit.report.cells.CellFailure`);
* :mod:`~labkit.grade.manual` — hand-graded items (analysis cells, manual.csv, the pages' entry form);
* :mod:`~labkit.grade.gradebook` — gradebook.csv/.html, statistics and the feedback pages;
* :mod:`~labkit.grade.similarity` — ``labkit similarity`` (copydetect).

Importing this package imports nothing else (the hidden checks import
:mod:`labkit.grade.hidden` in the sandbox's fresh interpreter, :mod:`labkit.grade.verdict`).
"""


def skip_slow_imports() -> None:
    """Keep jsonschema (imported by nbformat) from building an IRI grammar at import: seconds per process.

    ``rfc3987_syntax``, when installed, parses its grammar when jsonschema is
    imported, for a string format no notebook schema uses. Called only in the
    processes the grader starts for itself (the sandbox's program, the local
    pool's workers, a ``LocalCluster``'s workers), never in a user's process.
    """
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)
