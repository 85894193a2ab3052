"""The models: leaf requests and decoding, the litellm boundary, providers, the reply cache and the budget."""
