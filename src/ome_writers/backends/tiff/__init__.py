"""OME-TIFF through tifffile.

The writer, its pages, the provisional OME-XML, the file set and SubIFD levels.
"""
