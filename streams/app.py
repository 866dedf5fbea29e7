"""The Faust app "newsmon": `faust -A streams.app worker` runs the tag, alert and delivery agents."""

from streams.model.settings import get_settings
from streams.worker.build import create_app

app = create_app(get_settings())
