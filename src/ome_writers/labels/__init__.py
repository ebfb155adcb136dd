"""Label images written beside the frames of an OME-Zarr dataset (NGFF ``labels/``)."""
