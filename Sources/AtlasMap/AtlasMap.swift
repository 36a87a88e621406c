// AtlasMap — activation atlases and galleries, in the order the data flows:
//   Collect   activation vectors of a layer at sampled positions of many images (resumable parts, shards)
//   Layout    whitening, reduction (AtlasReduce's UMAP or PCA) to 2-D, normalisation, grid binning
//   Icons     feature visualizations rendered in batches and kept one file each (resume, reuse)
//   Gallery   channel / class galleries; Pipeline: the atlas stages end to end
// Output folders, their index and tiles are AtlasOutput's; shards and merge are AtlasJobs'.
