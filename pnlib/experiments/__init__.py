"""The comparisons of docs/method.md on networks: ``methods`` (the one method registry), ``baselines``
(the producers of the controls and the baselines), ``experiment`` (runs of the registered methods
over the trajectory store), ``grid`` (cells, jobs and their tables), ``executors`` (local
processes, Slurm, dask), ``pilots`` (the learning-rate and trajectory-length pilots),
``lenet_design`` and ``networks`` (the designs of notebooks 03 and 04) and ``profiles`` (smoke /
cpu / paper and the notebooks' declared configs). Knows nothing of ``pnlib.synthetic``."""
