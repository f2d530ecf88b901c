"""Datasets: SynthFaces (procedural, exact ground truth), the public datasets' loaders
(CelebAMaskHQ, AffectNet, RaFD, KDEF, OpenFaceAUs, ImageFolderExpressions, by name through
`catalog.open_dataset`), prepared folders (`cache`), and faces in photos (`faces`, `images`)."""
