"""Paging an upload: cut it at record boundaries into pages; publish a large one's page descriptors."""
