// AtlasVis — feature visualization in Lucid's four parts:
//   Param       image parameterizations (FFT spectrum + decorrelated colour, pixels) with exact backward
//   Preprocess  AtlasImage's one input normalisation, differentiated inside the chain
//   Transforms  random pad / jitter / scale / rotate with exact adjoints, per-icon deterministic draws
//   Objectives  composable objectives on captured activations, with their gradients; Adam (gradient ascent)
