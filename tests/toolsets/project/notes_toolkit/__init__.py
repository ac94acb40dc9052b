"""A small operator package for the toolset tests: a table, a service layer over it, and tools.

It lives outside the test package on purpose: the configuration's `[[toolsets]] path` puts its
folder on the import path, in the API process and in every tool server, as it would for an operator.
"""
