"""Token budgets in policies (text models): ``tokens: 2`` judges the HotFlip result at k = 2."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from robustcheck.policy.schema import Budget, Policy


def test_a_token_budget_judges_hotflip_and_is_not_an_eps():
    policy = Policy.model_validate(
        {
            "version": 1,
            "budgets": [
                {"eps": 0.1, "max_attack_success_rate": 0.5},
                {"tokens": 2, "max_attack_success_rate": 0.5},
                {"tokens": 4, "attack": "hotflip", "max_adversarial_error_rate": 0.9},
            ],
        }
    )
    assert policy.eps_values() == [0.1]
    assert policy.token_values() == [2, 4]
    token_budget = policy.budgets[1]
    assert token_budget.attack == "hotflip" and token_budget.value == 2.0


@pytest.mark.parametrize(
    "fields",
    [
        {"eps": 0.1, "tokens": 2, "max_attack_success_rate": 0.5},
        {"max_attack_success_rate": 0.5},
        {"tokens": 0, "max_attack_success_rate": 0.5},
        {"tokens": 1.5, "max_attack_success_rate": 0.5},
    ],
)
def test_a_budget_has_exactly_one_valid_eps_or_token_count(fields):
    with pytest.raises(ValidationError):
        Budget.model_validate(fields)


def test_two_budgets_on_the_same_token_count_are_refused():
    with pytest.raises(ValidationError, match="tokens=2: merge them"):
        Policy.model_validate(
            {
                "version": 1,
                "budgets": [
                    {"tokens": 2, "max_attack_success_rate": 0.5},
                    {"tokens": 2, "max_adversarial_error_rate": 0.5},
                ],
            }
        )
