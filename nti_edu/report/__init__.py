"""Measuring the package on the embedded world: what benchmarks/ reports and tests check, as a library.

``scenes``: held-out (and training) edit scenes of the world and the measures over them (PSNR outside the
edited region, how a paste-back mask fits). ``edits``: a Prompt-to-Prompt setting (``P2PSetting``), its
controller, and the driver that edits every scene with a list of settings and keeps the best.
``methods``: the reconstruction driver, named methods -> PSNR per image. ``ablation``: the paper's fig. 5,
per-step against global null embeddings. ``timing``: wall/CPU/peak-memory timing with a soft budget.
``official``: the official notebook's null-text loop as it runs there, the speed reference. ``splice``,
``locality``: the background-swap and VAE-locality measures. ``paper_ablation``: issue 36's variants.

The drivers are generic: a report (or the paper-ablation script of issue 36) passes its own named
methods or settings and gets a table of numbers back.
"""
