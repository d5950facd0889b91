"""Training: the classifier trainer of train.py (``classifier``), the GAN trainer of train_gan.py
(``gan``), run folders (``run_dir``), Label Embeddings Projection (``lep``), frozen graphs
(``freeze``) and the Frechet distance on classifier features (``frechet``)."""
