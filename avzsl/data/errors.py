"""Errors raised for bad data, with messages written for the person who supplied it."""

from avzsl.io import AvzslError


class DataError(AvzslError, ValueError):
    """The data set on disk is incomplete or inconsistent; the message says what and where."""
