"""Publishing: asv's per-framework sites, and the page that compares the frameworks."""
