"""BibTeX entries for the methods in the compared runs and for the indicators and statistics the exports use."""

from __future__ import annotations

from collections.abc import Iterable

from pareto_align.export.style import paper_key

METHOD_ENTRIES: dict[str, str] = {
    "modpo": """@inproceedings{zhou2024modpo,
  title     = {Beyond One-Preference-Fits-All Alignment: Multi-Objective Direct Preference Optimization},
  author    = {Zhou, Zhanhui and Liu, Jie and Shao, Jing and Yue, Xiangyu and Yang, Chao and Ouyang, Wanli and Qiao, Yu},
  booktitle = {Findings of the Association for Computational Linguistics: ACL 2024},
  year      = {2024},
  eprint    = {2310.03708},
  archivePrefix = {arXiv}
}""",
    "dpa": """@inproceedings{wang2024dpa,
  title     = {Arithmetic Control of {LLMs} for Diverse User Preferences: Directional Preference Alignment with Multi-Objective Rewards},
  author    = {Wang, Haoxiang and Lin, Yong and Xiong, Wei and Yang, Rui and Diao, Shizhe and Qiu, Shuang and Zhao, Han and Zhang, Tong},
  booktitle = {Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics (Volume 1: Long Papers)},
  year      = {2024},
  eprint    = {2402.18571},
  archivePrefix = {arXiv}
}""",
    "soups": """@inproceedings{rame2023rewardedsoups,
  title     = {Rewarded soups: towards {Pareto}-optimal alignment by interpolating weights fine-tuned on diverse rewards},
  author    = {Ram{\\'e}, Alexandre and Couairon, Guillaume and Shukor, Mustafa and Dancette, Corentin and Gaya, Jean-Baptiste and Soulier, Laure and Cord, Matthieu},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {36},
  year      = {2023},
  eprint    = {2306.04488},
  archivePrefix = {arXiv}
}""",
    "dynamic_weighting": """@misc{lu2025dynamicweighting,
  title     = {Learning to Optimize Multi-Objective Alignment Through Dynamic Reward Weighting},
  author    = {Lu, Yining and Wang, Zilong and Li, Shiyang and Liu, Xin and Yu, Changlong and Yin, Qingyu and Shi, Zhan and Zhang, Zixuan and Jiang, Meng},
  year      = {2025},
  eprint    = {2509.11452},
  archivePrefix = {arXiv}
}""",
    "cmorl": """@inproceedings{liu2025cmorl,
  title     = {Efficient Discovery of {Pareto} Front for Multi-Objective Reinforcement Learning},
  author    = {Liu, Ruohong and Pan, Yuxin and Xu, Linjie and Song, Lei and You, Pengcheng and Chen, Yize and Bian, Jiang},
  booktitle = {International Conference on Learning Representations},
  year      = {2025},
  eprint    = {2410.02236},
  archivePrefix = {arXiv}
}""",
    "mod": """@inproceedings{shi2024mod,
  title     = {Decoding-Time Language Model Alignment with Multiple Objectives},
  author    = {Shi, Ruizhe and Chen, Yifang and Hu, Yushi and Liu, Alisa and Hajishirzi, Hannaneh and Smith, Noah A. and Du, Simon S.},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {37},
  year      = {2024},
  eprint    = {2406.18853},
  archivePrefix = {arXiv}
}""",
    "ric": """@inproceedings{yang2024ric,
  title     = {Rewards-in-Context: Multi-objective Alignment of Foundation Models with Dynamic Preference Adjustment},
  author    = {Yang, Rui and Pan, Xiaoman and Luo, Feng and Qiu, Shuang and Zhong, Han and Yu, Dong and Chen, Jianshu},
  booktitle = {Proceedings of the 41st International Conference on Machine Learning},
  year      = {2024},
  eprint    = {2402.10207},
  archivePrefix = {arXiv}
}""",
    "bon": """@misc{beirami2024bon,
  title     = {Theoretical guarantees on the best-of-n alignment policy},
  author    = {Beirami, Ahmad and Agarwal, Alekh and Berant, Jonathan and D'Amour, Alexander and Eisenstein, Jacob and Nagpal, Chirag and Suresh, Ananda Theertha},
  year      = {2024},
  eprint    = {2401.01879},
  archivePrefix = {arXiv}
}""",
    # The linear-scalarization baseline (MORLHF): one RLHF run per fixed weighted sum of the rewards.
    "linear": """@inproceedings{wu2023finegrained,
  title     = {Fine-Grained Human Feedback Gives Better Rewards for Language Model Training},
  author    = {Wu, Zeqiu and Hu, Yushi and Shi, Weijia and Dziri, Nouha and Suhr, Alane and Ammanabrolu, Prithviraj and Smith, Noah A. and Ostendorf, Mari and Hajishirzi, Hannaneh},
  booktitle = {Advances in Neural Information Processing Systems},
  volume    = {36},
  year      = {2023},
  eprint    = {2306.01693},
  archivePrefix = {arXiv}
}""",
}

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
    """(BibTeX text, methods without an entry): one entry per known method, then the methodology entries."""
    methods = list(methods)
    keys = list(dict.fromkeys(paper_key(m) for m in methods))
    known = [METHOD_ENTRIES[k] for k in keys if k in METHOD_ENTRIES]
    unknown = [m for m in dict.fromkeys(methods) if paper_key(m) not in METHOD_ENTRIES]
    return "\n\n".join([*known, *METHODOLOGY_ENTRIES]) + "\n", unknown
