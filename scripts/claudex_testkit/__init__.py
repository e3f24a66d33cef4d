"""Test harness shared by claudex's own tests and the shipped servers' tests: a private dockerd,
and a Debian base image built with debootstrap (no image registry needed). Not used at run time."""
