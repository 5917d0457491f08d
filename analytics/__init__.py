"""Call analytics for agencies: when should we call?"""

#: The one place the version is written: pyproject.toml and the OpenAPI document read it here.
__version__ = "0.2.0"
