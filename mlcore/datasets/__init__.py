"""Image label data sets that need nothing but numpy and Pillow.

- `fashion_mnist`: the real Fashion-MNIST (Zalando, MIT), read from its original IDX files
  or from the subset shipped in `data/fashion-mnist-subset/`, and exported as an image folder.
- `synthetic_dresses`: a seeded procedural dress generator with known attribute labels and
  exact bounding boxes, several photos per product.
"""
