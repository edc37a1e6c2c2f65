"""LLM evaluations: datasets of examples, evaluators, experiments and their comparison.

* :mod:`~mlwarden.evals.items` -- dataset items (input, output, expected output, retrieved
  context, metadata, source span), checked one by one; JSONL and CSV uploads;
* :mod:`~mlwarden.evals.evaluators` -- the offline evaluators (exact / regex / JSON-schema
  match, embedding similarity, PII, injection, refusal), one registry;
* :mod:`~mlwarden.evals.judges` -- LLM-as-judge evaluators with versioned prompt templates;
* :mod:`~mlwarden.evals.endpoint` -- one call to an OpenAI-compatible chat endpoint;
* :mod:`~mlwarden.evals.runner` -- an experiment run: a task per item, then every evaluator;
* :mod:`~mlwarden.evals.paired` -- two runs compared item by item with paired tests.

The layer sits above ``stats`` and ``store`` and below ``server``; see ``docs/evals.md``.
"""
