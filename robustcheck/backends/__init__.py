"""Model backends: deployed predictions plus input gradients behind one protocol."""
