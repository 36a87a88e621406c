// AtlasImage
