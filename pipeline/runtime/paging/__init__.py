"""Paging large uploads: cut them into page descriptors, process each page, track the job to completion."""
