"""sphinx-gallery's image scraper for skvae's docs (a module, so that Sphinx can pickle it)."""


class TightScraper:
    """sphinx-gallery's matplotlib scraper, saving with ``bbox_inches="tight"``.

    So that a legend or label outside the axes (``TrainingCurvesDisplay`` puts its legend
    below them) is kept in the picture, as ``savefig(..., bbox_inches="tight")`` keeps it.
    """

    def __repr__(self):  # sphinx-gallery caches on the configuration's text
        return "TightScraper"

    def __call__(self, *args, **kwargs):
        from sphinx_gallery.scrapers import matplotlib_scraper

        return matplotlib_scraper(*args, bbox_inches="tight", **kwargs)
