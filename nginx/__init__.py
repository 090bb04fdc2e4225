"""nginx in front of HeyGem: the site template, a standalone wrapper and the code that renders them."""
