"""Work-arounds for bugs of the pinned OpenMMLab releases.

Nothing here is imported by ``import autola_mm`` (each module imports the
library it patches); a config that needs one names it in ``custom_imports``.
"""
