// AtlasNet
