from otter.test_files import test_case

OK_FORMAT = False

name = "q2c_overfitting"
points = 2

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_overfitting_form(overfitting_bigger, overfitting_smaller):
    from kit_checks import check_form_yes_no
    check_form_yes_no(overfitting_bigger, 'overfitting_bigger')
    check_form_yes_no(overfitting_smaller, 'overfitting_smaller')

