"""mlpspec-layers: batch normalization, leaky ReLU and GELU activations, and He-uniform
initialization, as an mlpspec plugin."""
