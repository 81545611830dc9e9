"""The experiments the chapters run, one module per experiment, each tested: the widgets draw their results.

- ``vanishing_gradients``: gradient and signal sizes through a deep stack of one activation (chapter 03);
- ``ce_vs_mse``: logistic regression trained with cross-entropy and with MSE from a confidently wrong start (04);
- ``optimizer_race``: optimizers on 2-D surfaces, step by step (05);
- ``network_race``: the same optimizers training one network on the same batches through ``fit`` (05);
- ``conv_responses``: what a hand-made kernel and a trained convolution layer respond to (07);
- ``rnn_gradients``: the gradient that reaches each earlier input of a plain RNN, an LSTM and a GRU (08).

Import the module you need: ``from course_lib.experiments.vanishing_gradients import gradient_flow``.
"""
