"""Suite "freq" (Fourier heat map, Yin et al. 2019): mean error over the basis images and over the high
frequencies, the error by frequency band, the heat maps and their paired differences to the baseline."""

from typing import Any

from robustbench_lift.report.face import Face, Figure, Metric, Section, Table


def _heat_maps(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures_freq

    return figures_freq.heat_maps(frame)


def _difference_maps(frame: Any, tables: dict) -> Any:
    from robustbench_lift.report import figures_freq

    baseline = tables["deltas"][0].attrs.get("baseline") if "deltas" in tables else None
    return figures_freq.difference_maps(frame, baseline)


FACE = Face(
    suite="freq", priority=6,
    metrics={"freq_err": Metric("Fourier err.", False, "top-1 error under Fourier basis perturbations, mean over "
                                "the heat map's frequencies (%)"),
             "freq_high_err": Metric("Fourier high err.", False, "the same over the high frequencies, max(|u|, |v|) "
                                     "/ side >= 1/4 cycle per pixel: those 2x down-sampling folds back (%)")},
    summarize="robustbench_lift.report.freq:freq_summary",
    units="robustbench_lift.report.freq:freq_units",
    tables=(Table("freq_band", "robustbench_lift.report.freq:band_table", higher_is_better=False),),
    figures=(Figure("freq_heat_maps", _heat_maps), Figure("freq_differences", _difference_maps)),
    sections=(
        Section("Fourier heat maps", "freq_band", "freq_heat_maps", "Top-1 error when a Fourier basis image of "
                "fixed l2 norm (random sign per image and channel) is added to the images (Yin et al. 2019); DC at "
                "the centre, one colour scale for every model. Table: the mean error per frequency band."),
        Section("Fourier heat map: difference to the baseline", None, "freq_differences", "Each model's error "
                "minus the baseline's per frequency on the same images; dots: exact McNemar p < 0.05 after Holm's "
                "adjustment over the frequencies."),
        Section("Fourier perturbations through the down-sampling sites", None, "freq_sites", "Per down-sampling "
                "site (input first), the mean l2 change a Fourier basis perturbation causes in the activations "
                "after the site divided by that before it, over the low and the high frequencies (max(|u|, |v|) / "
                "side >= 1/4): how much of each band a pooling lets through (`engine.freq_sites.record_sites`)."),
    ),
)
