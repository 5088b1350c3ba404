"""Browser views, one module per page family."""
