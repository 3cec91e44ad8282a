"""BibTeX entries for the methods in the compared runs (each method's `INFO.bibtex`) and for the indicators and
statistics the exports use."""

from __future__ import annotations

from collections.abc import Iterable

from pareto_align.export.style import method_info

# What the tables and figures rest on: hypervolume, expected utility, sparsity, attainment functions, bootstrap.
METHODOLOGY_ENTRIES: tuple[str, ...] = (
    """@article{zitzler1999hypervolume,
  title   = {Multiobjective evolutionary algorithms: a comparative case study and the strength {Pareto} approach},
  author  = {Zitzler, Eckart and Thiele, Lothar},
  journal = {IEEE Transactions on Evolutionary Computation},
  volume  = {3},
  number  = {4},
  pages   = {257--271},
  year    = {1999}
}""",
    """@inproceedings{zintgraf2015utility,
  title     = {Quality Assessment of {MORL} Algorithms: A Utility-Based Approach},
  author    = {Zintgraf, Luisa M. and Kanters, Timon V. and Roijers, Diederik M. and Oliehoek, Frans A. and Beau, Philipp},
  booktitle = {Benelearn 2015: Proceedings of the 24th Annual Machine Learning Conference of Belgium and the Netherlands},
  year      = {2015}
}""",
    """@inproceedings{xu2020pgmorl,
  title     = {Prediction-Guided Multi-Objective Reinforcement Learning for Continuous Robot Control},
  author    = {Xu, Jie and Tian, Yunsheng and Ma, Pingchuan and Rus, Daniela and Sueda, Shinjiro and Matusik, Wojciech},
  booktitle = {Proceedings of the 37th International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {119},
  year      = {2020}
}""",
    """@inproceedings{grunert2001attainment,
  title     = {Inferential Performance Assessment of Stochastic Optimisers and the Attainment Function},
  author    = {Grunert da Fonseca, Viviane and Fonseca, Carlos M. and Hall, Andreia O.},
  booktitle = {Evolutionary Multi-Criterion Optimization (EMO 2001)},
  series    = {Lecture Notes in Computer Science},
  volume    = {1993},
  pages     = {213--225},
  publisher = {Springer},
  year      = {2001}
}""",
    """@article{efron1979bootstrap,
  title   = {Bootstrap Methods: Another Look at the Jackknife},
  author  = {Efron, Bradley},
  journal = {The Annals of Statistics},
  volume  = {7},
  number  = {1},
  pages   = {1--26},
  year    = {1979}
}""",
)


def bibtex_entries(methods: Iterable[str]) -> tuple[str, list[str]]:
    """(BibTeX text, methods without an entry): one entry per paper of the known methods (two methods of one paper
    share it), then the methodology entries."""
    methods = list(dict.fromkeys(methods))
    infos = [method_info(m) for m in methods]
    papers = {info.citation_key: info.bibtex for info in infos if info is not None}
    unknown = [m for m, info in zip(methods, infos, strict=True) if info is None]
    return "\n\n".join([*papers.values(), *METHODOLOGY_ENTRIES]) + "\n", unknown
