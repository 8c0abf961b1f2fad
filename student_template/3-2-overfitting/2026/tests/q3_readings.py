from otter.test_files import test_case

OK_FORMAT = False

name = "q3_readings"
points = 2

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_part3_form(dropout_shrinks_gap, best_technique):
    from kit_checks import check_form_choice, check_form_yes_no
    check_form_yes_no(dropout_shrinks_gap, 'dropout_shrinks_gap')
    check_form_choice(best_technique, 'best_technique', ['dropout', 'l2', 'augmentation'])

