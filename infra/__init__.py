import steplane  # noqa: F401  first: a bare-name import of this package becomes an alias
