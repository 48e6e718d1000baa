"""Data sets a student is trained on: the thesis' toy grid, Gaussian teachers, MNIST and digits."""
