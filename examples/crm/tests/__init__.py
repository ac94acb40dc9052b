"""The CRM example's tests (a package, so its conftest never shadows another project's)."""
