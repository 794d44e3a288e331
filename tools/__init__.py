"""Repository tooling: chart lint and packaging, the chart READMEs' parameter tables, and the
copies the charts carry of what is defined elsewhere (the package's configuration schema, the
volume's names, the Kubernetes API's definitions of the values the charts pass to Kubernetes).

Run from the repository root as ``python -m tools.<module>``; the scripts in ``scripts/`` do.
This is not part of dlpipe: the wheel packages ``src/`` only, so neither ``pip install dlpipe``
nor the images carry it, and it may need what the runtime never does (helm, yamale, yamllint,
kubernetes-validate).
"""
