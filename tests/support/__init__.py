"""Test helpers: real servers started on loopback, job runners, independent table readers."""
