"""mlpspec-optim: adaptive optimizers (Adam, AdamW, RMSprop), Nesterov momentum, and step
and cosine-with-warm-up learning-rate schedules, as an mlpspec plugin."""
