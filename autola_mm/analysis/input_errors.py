"""The error the analysis tools report as one message, without a traceback.

A wrong input of an analysis of AutoLA's supplement (Ma et al., NeurIPS 2020):
a stage or layer the backbone lacks, a split the config has no dataloader
for, an index outside the dataset, too few images for the perplexity, two
models with the same label. The tools check these before any work starts
and print ``error: <message>`` (``docs/analysis.md`` shows the messages).
"""


class AnalysisInputError(ValueError):
    """An analysis was asked for something its models or data do not have."""
