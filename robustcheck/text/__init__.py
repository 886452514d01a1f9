"""Text classifiers: the attacked leaf is the word embeddings, the tokens ride beside them."""
