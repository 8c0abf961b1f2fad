from otter.test_files import test_case

OK_FORMAT = False

name = "q2c_overfitting"
points = 2

@test_case(points=0, hidden=False)
def test_overfitting_form(overfitting_bigger, overfitting_smaller):
    from kit_checks import check_form_yes_no
    check_form_yes_no(overfitting_bigger, 'overfitting_bigger')
    check_form_yes_no(overfitting_smaller, 'overfitting_smaller')

