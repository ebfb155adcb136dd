"""OME-Zarr: the dataset shared by every library, and one array writer per library."""
