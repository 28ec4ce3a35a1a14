"""PrISM."""
