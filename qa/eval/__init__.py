"""Batch evaluation: question files, the article split, judging answers and the report.

``cli`` (``qa eval``), ``runner`` (asks through ``qa.clients``), ``evaluation`` (how an answer is
judged), ``report`` (figures, baselines, plots), ``questions`` (question files), ``splits``
(SQuAD's fit/held-out article split).
"""
